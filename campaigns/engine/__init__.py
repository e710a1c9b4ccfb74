"""Django-free numerics of campaigns: treatment-versus-control statistics and power
(``stats``), lookalike similarity (``lookalike``)."""
