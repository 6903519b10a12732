//! Job payloads and handlers shared by the worker and the embedded server (apalis).
