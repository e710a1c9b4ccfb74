# Models arrive with their issue; the app exists so that the layout is fixed from the start.
