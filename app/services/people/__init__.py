"""People and their accounts: sign-up and sign-in, profiles and the directory, the second factor, privacy.

Modules: `accounts`, `people`, `totp`, `privacy`. Import them by name (`from app.services.people import …`)."""
