CREATE FUNCTION accounts_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.owner := lower(NEW.owner);
  RETURN NEW;
END;
$$;
CREATE TRIGGER accounts_touch BEFORE INSERT ON accounts
  FOR EACH ROW EXECUTE FUNCTION accounts_touch();
