"""Records and retrieval: case records, hospital data, ingest, the case index and its benches.

The bottom layer: it imports nothing of agent/, tools/ or ui/.
"""
