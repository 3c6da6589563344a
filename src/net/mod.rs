//! Egress: the proxy and DNS stub the supervisor serves inside the sandbox's network namespace.
