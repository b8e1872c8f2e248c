"""Real platform API clients: one module per platform, sharing one HTTP session policy.

``session.py`` holds what every platform shares (timeouts, retries with jitter and a
bounded total wait, Retry-After, token redaction, request records for the landing file);
``errors.py`` the errors a pull can end with; each platform module maps its own error
shapes onto them and knows its own paths, payloads and pagination.
"""
