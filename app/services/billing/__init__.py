"""Fees: free allowances, orders, payment notifications, institutions' prepaid ledgers."""
