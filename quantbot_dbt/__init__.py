"""quantbot-dbt: a registry for quantitative research runs (lake writing, ids, resolver, registry, CLI)."""
