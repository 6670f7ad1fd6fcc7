//! Host agent: converges WireGuard, firewall, sysctls and DNS on a host. Not built yet (its own issue).
