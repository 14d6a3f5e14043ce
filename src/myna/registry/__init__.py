"""A municipality's resident registry (住民基本台帳) and its staff."""
