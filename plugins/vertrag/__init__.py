"""The vertrag plugin: rental contracts between a landlord (Vermieter) and a renter (Mieter)."""
