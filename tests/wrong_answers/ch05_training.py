"""A ch05 submission that passes every visible test but hard-codes RMSprop's decay rate.

It always uses decay 0.99 instead of reading config["decay"]: the visible test uses the default, the
hidden 12-step test with decay 0.9 fails.
"""
WRONG = {
    "rmsprop_update": '''def rmsprop_update(w, dw, config):
    cache = 0.99 * config.get("cache", np.zeros_like(w)) + 0.01 * dw * dw
    config["cache"] = cache
    return w - config.get("lr", 1e-2) * dw / (np.sqrt(cache) + config.get("eps", 1e-8))
''',
}
