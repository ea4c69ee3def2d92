"""End to end with Postwerk's kit: render, emit, deliver through a real worker."""

RESIDENTS = [
    {"name": "Erika", "email": "erika@example.org", "language": "de"},
    {"name": "Jane", "email": "jane@example.org", "language": "en"},
    {"name": None, "email": "not an address", "language": None},
]


def _payload(**overrides):
    return {
        "maintenance": dict(
            {
                "building": "Hauptstraße 5",
                "date": "2026-12-14",
                "work": "Heizung",
                "water_off": False,
                "residents": RESIDENTS,
            },
            **overrides,
        )
    }


def test_the_templates_render_with_the_samples_in_both_languages(postwerk):
    de = postwerk.render("MAINTENANCE_SCHEDULED", language="de")
    assert de.subject == "Wartung am 2026-12-14: Wartung der Heizung"
    assert "Das Wasser ist an diesem Tag abgestellt." in de.html
    assert postwerk.render("MAINTENANCE_SCHEDULED", language="en").subject.startswith("Maintenance on 2026-12-14")


def test_each_resident_gets_the_notice_in_their_language_and_a_bad_address_is_skipped(postwerk):
    sent = postwerk.emit_and_deliver("MAINTENANCE_SCHEDULED", _payload())
    by_rcpt = {m.rcpt_tos[0]: str(m.message["Subject"]) for m in sent}
    assert by_rcpt == {
        "erika@example.org": "Wartung am 2026-12-14: Heizung",
        "jane@example.org": "Maintenance on 2026-12-14: Heizung",
    }


def test_the_admin_sees_the_plugin_enabled(postwerk):
    page = postwerk.client.get("/settings/admin/plugins/").get_data(as_text=True)
    assert 'id="plugin-maintenance" data-enabled="yes"' in page and "MAINTENANCE_SCHEDULED" in page
