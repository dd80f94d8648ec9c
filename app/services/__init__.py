"""Use cases. One public function = one use case = one transaction (the caller's door commits
nothing; the service commits). Services know nothing of HTTP and raise app.errors."""
