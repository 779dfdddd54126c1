"""Konsol Sinergi: the web console for office staff (issue 13).

A fourth deployable on port 8100. It owns the staff's accounts (users, sessions, invitations, in
its own database) and talks to partners, activities and notifications only through their HTTP
APIs, with a short-lived token minted per call for the person signed in, so every change in
every service is attributed to them. Pages are server-rendered (Jinja2) with htmx for small
updates; every asset comes from an npm package pinned by ``package-lock.json`` and is served by
the console itself. See docs/console.md.
"""
