"""Staff pages, one module per area: dashboard, imports, catalog (customers, products), users."""
