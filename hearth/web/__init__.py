"""Static web pages served by ``hearth.api.demo`` (plain files, no build step)."""
