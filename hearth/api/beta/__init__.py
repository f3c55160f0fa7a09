"""``client.beta``: the beta resources Hearth serves."""
