"""vanplan api: the FastAPI service, storage, jobs, access control and the command line."""
