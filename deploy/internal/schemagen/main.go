// Command schemagen writes the JSON schemas of package k8sschema into a
// folder, for the kubeconform command line (deploy/validate.sh):
//
//	go run ./deploy/internal/schemagen DIR
//	kubeconform -strict -schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json' ...
package main

import (
	"fmt"
	"os"

	"github.com/heraldhq/herald/deploy/internal/k8sschema"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: schemagen DIR")
		os.Exit(2)
	}
	if err := k8sschema.Write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen: "+err.Error())
		os.Exit(1)
	}
}
