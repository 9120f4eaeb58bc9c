package config

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestConfigSecrets(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CRM_KEY": "crm-k3y-value", "CRM_TOKEN": "crm-t0ken-value", "EMPTY": ""}
	for k, v := range testEnv {
		env[k] = v
	}
	c, err := Parse("wxflow.yaml", []byte("secrets: [CRM_KEY, CRM_TOKEN]\n"+minimal), envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if want := (SecretValues{"CRM_KEY": "crm-k3y-value", "CRM_TOKEN": "crm-t0ken-value"}); !reflect.DeepEqual(c.Secrets, want) {
		t.Fatalf("secrets %v", map[string]string(c.Secrets))
	}
	if !reflect.DeepEqual(c.Secrets.Names(), []string{"CRM_KEY", "CRM_TOKEN"}) {
		t.Fatalf("names %v", c.Secrets.Names())
	}
	for _, shown := range []string{fmt.Sprint(c.Secrets), fmt.Sprintf("%#v", c.Secrets), fmt.Sprintf("%+v", *c), logged(t, c)} {
		if strings.Contains(shown, "value") {
			t.Errorf("a secret's value is shown: %s", shown)
		}
	}

	src := `secrets:
  - CRM_KEY
  - MISSING
  - EMPTY
  - ${CRM_TOKEN}
  - 9LIVES
  - CRM_KEY
  - [nested]
` + minimal
	_, err = Parse("wxflow.yaml", []byte(src), envOf(env))
	if err == nil {
		t.Fatal("no error")
	}
	want := strings.Join([]string{
		"wxflow.yaml:3:5: error: secret MISSING is not set (set the environment variable MISSING for wxflow serve, or remove the secret from the list)",
		"wxflow.yaml:4:5: error: secret EMPTY is empty (the environment variable EMPTY is empty)",
		"wxflow.yaml:5:5: error: a secret is named, not given: ${...} is not expanded here (write the name alone: CRM_TOKEN; the value comes from the environment variable of that name)",
		`wxflow.yaml:6:5: error: invalid secret name "9LIVES" (letters, digits and _, not starting with a digit: the name of an environment variable)`,
		"wxflow.yaml:7:5: error: secret CRM_KEY is listed twice",
		"wxflow.yaml:8:5: error: a secret is a name, got a list (list the names: secrets: [CRM_KEY, CRM_TOKEN])",
	}, "\n")
	if got := err.Error(); got != want {
		t.Fatalf("errors\n%s\nwant\n%s", got, want)
	}
	for _, v := range []string{"crm-k3y-value", "crm-t0ken-value"} {
		if strings.Contains(err.Error(), v) {
			t.Fatalf("the error shows a value: %s", err)
		}
	}

	_, err = Parse("wxflow.yaml", []byte("secrets: CRM_KEY\n"+minimal), envOf(env))
	if err == nil || err.Error() != `wxflow.yaml:1:10: error: secrets must be a list of names, got text (list the names: secrets: [CRM_KEY, CRM_TOKEN])` {
		t.Fatalf("error %v", err)
	}
}

// logged is what a JSON log line of the config shows.
func logged(t *testing.T, c *Config) string {
	t.Helper()
	var b strings.Builder
	l := LogConfig{Format: "json", Level: "info"}
	slog.New(l.Handler(&b)).Info("config", "config", c)
	return b.String()
}
