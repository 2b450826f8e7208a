from flowmatic_contracts.ids import new_id


def test_ids_are_unique_url_safe_and_sort_by_creation() -> None:
    made = [new_id("wf") for _ in range(2000)]
    assert len(set(made)) == len(made)
    assert all(i.startswith("wf_") and len(i) == 29 and i.replace("_", "").isalnum() for i in made)
    # same millisecond ids may tie on time but the time prefix never goes backwards
    assert [i[:13] for i in made] == sorted(i[:13] for i in made)
