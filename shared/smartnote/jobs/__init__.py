"""Scheduled work (EventBridge): each job takes its clock and services as arguments."""
