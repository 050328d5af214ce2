"""Both ports: the Falcon app and its resources, the REST server, the listener that upgrades
WebSocket clients, the thread that reads every client, the client protocol and our JSON.
"""
