"""Socket.IO: authenticate, authorize rooms through app.services.access, call services."""
