"""Data quality: what the pipeline keeps aside or measures about its own data."""
