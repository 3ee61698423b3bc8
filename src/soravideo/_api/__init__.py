"""What users call: the clients, the two services, monitoring and the sync twin.

The services receive a small explicit context (``context.py``), never the client.
"""
