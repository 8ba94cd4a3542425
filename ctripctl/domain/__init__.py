"""Pure domain logic: money, durations, ids, lifecycle, signing. Standard library only, no I/O."""
