"""The gateway: the one door for the provincial platform, county and township front ends, and operations."""
