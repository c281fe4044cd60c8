"""Running the portal: scheduled jobs, backup and restore, migrations, demo data, and the list of
every table (``schema``)."""
