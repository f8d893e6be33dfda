package memstore_test

import (
	"testing"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/backend/memstore"
	"github.com/wicketldap/wicket/backend/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) backend.Store { return memstore.New() })
}
