"""One tool call: arguments -> request -> X -> result, with its media, confirmation and (next) cost."""
