"""The console's pages, one router per part of the menu (each checks CSRF on every POST)."""
