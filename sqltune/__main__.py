"""``python -m sqltune``: the ``sqltune`` command, for launchers that start a module
(``accelerate launch --multi_gpu -m sqltune tune NAME``, ``torchrun --nproc_per_node N -m sqltune tune NAME``)."""

from sqltune.cli import main

if __name__ == "__main__":
    main()
