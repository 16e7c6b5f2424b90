"""The app of the composed projects the tests serve: a receiver, a consumer, their routes."""
