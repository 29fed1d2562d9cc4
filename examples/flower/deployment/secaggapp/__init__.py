"""The deployment smoke app of secagg.flower."""
