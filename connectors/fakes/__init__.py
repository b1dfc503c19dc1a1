"""Local HTTP fakes of SendGrid and Twilio, so the official clients are tested against real sockets.

Submodules are not imported here: `python -m connectors.fakes.sendgrid` would otherwise load twice.
"""
