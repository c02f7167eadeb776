"""HTTP <-> domain, thin: one router per resource."""
