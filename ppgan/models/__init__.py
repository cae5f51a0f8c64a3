"""Networks and the facts about them: generators, the model registry (zoo), loading from weights, conversion."""
