"""The offline rehearsal: a partition's whole custom-resource lifecycle against moto and the Postmark emulator."""
