package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
)

func newGroupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Manage groups",
		Long: `Groups are served as groupOfNames entries under ou=groups, and each member's
entry lists them in memberOf, for Dovecot and Postfix lookups by group.`,
	}
	cmd.AddCommand(newGroupAddCmd(g), newGroupDeleteCmd(g), newGroupListCmd(g),
		newGroupMemberCmd(g, true), newGroupMemberCmd(g, false))
	return cmd
}

// groupError rewords the store's errors about a group, as accountError does
// for accounts.
func groupError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backend.ErrNotFound):
		return &userError{msg: "no such group: " + name, err: err}
	case errors.Is(err, backend.ErrExists):
		return &userError{msg: "group " + name + " already exists", err: err}
	case errors.Is(err, backend.ErrInvalidInput):
		// Groups share the rule for account names, and its message.
		return &userError{msg: strings.Replace(userMessage(err), "account name", "group name", 1), err: err}
	}
	return err
}

// findGroup looks a group up by name. The store has no lookup of one group,
// and listing them all also gives the members the commands report on.
func findGroup(ctx context.Context, e *env, name string) (*backend.Group, error) {
	groups, err := e.svc.Groups(ctx)
	if err != nil {
		return nil, err
	}
	for i := range groups {
		if strings.EqualFold(groups[i].Name, name) {
			return &groups[i], nil
		}
	}
	return nil, groupError(name, backend.ErrNotFound)
}

// members never is nil, so JSON shows an empty group as [] rather than null.
func members(gr *backend.Group) []string {
	if gr.Members == nil {
		return []string{}
	}
	return gr.Members
}

func newGroupAddCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "add NAME",
		Short: "Create an empty group",
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := strings.ToLower(args[0])
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.svc.CreateGroup(cmd.Context(), name); err != nil {
				return groupError(name, err)
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, backend.Group{Name: name, Members: []string{}})
			}
			fmt.Fprintf(out, "created group %s; add members with 'wicket group member-add %s USER'\n", name, name)
			return nil
		},
	}
}

func newGroupDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a group; its members keep their accounts",
		Args:  nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := strings.ToLower(args[0])
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			gr, err := findGroup(ctx, e, name)
			if err != nil {
				return err
			}
			if err := e.svc.DeleteGroup(ctx, gr.Name); err != nil {
				return groupError(name, err)
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, struct {
					Name    string   `json:"name"`
					Deleted bool     `json:"deleted"`
					Members []string `json:"members"`
				}{gr.Name, true, members(gr)})
			}
			fmt.Fprintf(out, "deleted group %s (%s, whose accounts stay)\n", gr.Name,
				plural(len(gr.Members), "member", "members"))
			return nil
		},
	}
}

func newGroupListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List groups with their members",
		Args:  nArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			groups, err := e.svc.Groups(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				list := make([]backend.Group, len(groups))
				for i := range groups {
					list[i] = backend.Group{Name: groups[i].Name, Members: members(&groups[i])}
				}
				return printJSON(out, list)
			}
			if len(groups) == 0 {
				fmt.Fprintln(out, "no groups yet: create one with 'wicket group add NAME'")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "NAME\tMEMBERS")
			for _, gr := range groups {
				fmt.Fprintf(tw, "%s\t%s\n", gr.Name, orDash(strings.Join(gr.Members, ", ")))
			}
			return tw.Flush()
		},
	}
}

func newGroupMemberCmd(g *globals, add bool) *cobra.Command {
	use, short := "member-remove GROUP USER", "Remove an account from a group"
	if add {
		use, short = "member-add GROUP USER", "Add an account to a group"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  nArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := strings.ToLower(args[0])
			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			// Both are looked up first so that the message names the one
			// missing: the store's ErrNotFound could be either.
			gr, err := findGroup(ctx, e, group)
			if err != nil {
				return err
			}
			u, err := e.svc.User(ctx, args[1])
			if err != nil {
				return accountError(args[1], err)
			}
			was := containsFold(gr.Members, u.Name)
			if err := e.svc.SetGroupMember(ctx, gr.Name, u.Name, add); err != nil {
				if errors.Is(err, backend.ErrNotFound) {
					return &userError{err: err, msg: fmt.Sprintf("group %s or account %s no longer exists", gr.Name, u.Name)}
				}
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				after, err := findGroup(ctx, e, gr.Name)
				if err != nil {
					return err
				}
				return printJSON(out, backend.Group{Name: after.Name, Members: members(after)})
			}
			switch {
			case add && was:
				fmt.Fprintf(out, "%s was already a member of %s\n", u.Name, gr.Name)
			case add:
				fmt.Fprintf(out, "added %s to group %s\n", u.Name, gr.Name)
			case was:
				fmt.Fprintf(out, "removed %s from group %s\n", u.Name, gr.Name)
			default:
				fmt.Fprintf(out, "%s was not a member of %s\n", u.Name, gr.Name)
			}
			return nil
		},
	}
}
