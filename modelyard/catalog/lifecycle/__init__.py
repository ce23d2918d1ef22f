"""The publishing lifecycle: the status machine (`transitions`), what moves with a change (`effects`), what
changes status without its owner asking (`triggers`), and who sees what (`visibility`)."""
