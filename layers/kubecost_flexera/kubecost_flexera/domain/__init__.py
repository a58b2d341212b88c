"""What the exporter does, whatever it talks to: calendar, plan, day export, CBI CSV, refresh window and upload."""
