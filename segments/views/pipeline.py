"""Pipeline pages: runs with a start button and live status, data-quality reports, schedules."""
