"""Views: use-case results in, platform-free `Reply`s out. The only place reply text and buttons are made."""
