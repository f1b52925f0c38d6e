"""The database refuses to change a published policy version or its rules.

A published version may only have its `is_active` flag flipped (publishing another version or
rolling back); its other columns, and INSERT, UPDATE and DELETE of its rules, are refused, so
the decisions recorded against a version and rule always mean what they said at the time.
Drafts are edited freely. TRUNCATE (used to flush test databases) is not a row event.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION policy_version_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status = 'published' THEN
            RAISE EXCEPTION 'policy version % is published: DELETE refused', OLD.number
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'published'
       AND (to_jsonb(NEW) - 'is_active') IS DISTINCT FROM (to_jsonb(OLD) - 'is_active') THEN
        RAISE EXCEPTION 'policy version % is published: only is_active may change', OLD.number
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER policy_version_published_immutable
    BEFORE UPDATE OR DELETE ON policies_policyversion
    FOR EACH ROW EXECUTE FUNCTION policy_version_refuse_change();

CREATE FUNCTION policy_rule_refuse_published_change() RETURNS trigger AS $$
DECLARE
    frozen integer;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT number INTO frozen FROM policies_policyversion
            WHERE id = OLD.policy_version_id AND status = 'published';
        IF FOUND THEN
            RAISE EXCEPTION 'policy version % is published: its rules are immutable (% refused)',
                frozen, TG_OP USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT number INTO frozen FROM policies_policyversion
            WHERE id = NEW.policy_version_id AND status = 'published';
        IF FOUND THEN
            RAISE EXCEPTION 'policy version % is published: its rules are immutable (% refused)',
                frozen, TG_OP USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER policy_rule_published_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON policies_rule
    FOR EACH ROW EXECUTE FUNCTION policy_rule_refuse_published_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS policy_rule_published_immutable ON policies_rule;
DROP FUNCTION IF EXISTS policy_rule_refuse_published_change();
DROP TRIGGER IF EXISTS policy_version_published_immutable ON policies_policyversion;
DROP FUNCTION IF EXISTS policy_version_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("policies", "0002_policy_drafts")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
