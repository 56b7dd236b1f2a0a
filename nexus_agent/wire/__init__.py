"""The wire layer: the bottom of Nexus, shared with the satellite kit.

Wire models (:mod:`.models`), the one error tree (:mod:`.errors`), webhook
signing (:mod:`.signing`), the bounded webhook-body reader (:mod:`.webhook_body`),
the registration-file layout (:mod:`.registration_file`), the truth repository's
models, safe paths and the narrow protocol the kit needs of it (:mod:`.truth`), the
flows' registration and instruction formats (:mod:`.flows`) and the secret guard
(:mod:`.secret_guard`). Nothing here does I/O beyond reading a request body, and
nothing here imports any other part of Nexus: ``satellite_template`` stands on
this package alone.
"""
