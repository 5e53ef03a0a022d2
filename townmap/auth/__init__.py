"""Users, roles and sign-in for a shared Townmap (issue 10). A workspace without users
stays the single-user default: nothing asks anyone to sign in."""
