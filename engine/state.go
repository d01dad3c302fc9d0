package engine

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// State is what the stateful features remember between evaluations: the
// team directory, each chat's conversation, throttle windows, open groups
// and where each schedule stands. Step reads it and changes it, and lists
// every change in Result.Effects, so that the service can persist exactly
// what changed while dry-run and rule tests simply keep the State in
// memory. The zero value is an empty state.
//
// Delayed checks (`after:`) are not held here: Step hands new ones out as
// effects and takes due ones back as Batch.Checks, so that the service can
// keep them in its store and dry-run in a list.
type State struct {
	// Team is the team directory: the normalized number of every member
	// whose Cooby has posted (user_phone). A rules file's `team:` is added
	// to it by the RuleSet.
	Team map[string]bool
	// Chats holds conversations by chat id. Step needs the chats its
	// inputs belong to (an absent one is a new chat), and every chat for a
	// scheduled run (see Batch.Runs).
	Chats map[string]*Conversation
	// Throttles holds, per throttled rule and key, the message times of
	// the matches that acted, ascending (the latest maxThrottleActs).
	Throttles map[ThrottleID][]time.Time
	// Groups are the open groups of grouped rules.
	Groups map[GroupID]*OpenGroup
	// Schedules holds, per scheduled rule, the scheduled time of its last
	// run, or the time it started counting from.
	Schedules map[string]time.Time
}

// ThrottleID names one throttle window: a rule and a rendered key.
type ThrottleID struct{ Rule, Key string }

// GroupID names one open group: a rule, a rendered key and the time of
// its first message (unix milliseconds).
type GroupID struct {
	Rule, Key string
	Start     int64
}

// OpenGroup is a group collecting the matches of a grouped rule.
type OpenGroup struct {
	Rule, Key string
	// Start is the time its first message was written: the group closes
	// Group.Window after it.
	Start time.Time
	// EventID and First are the first message joined (in log order); the
	// group's actions are rendered with its fields and carry its id.
	EventID int64
	First   *Event
	Items   []GroupItem
}

// ID is the group's identity in State.Groups.
func (g *OpenGroup) ID() GroupID { return GroupID{g.Rule, g.Key, g.Start.UnixMilli()} }

// maxThrottleActs bounds the acted times kept per throttle key: a message
// older than the oldest of them is not throttled by them.
const maxThrottleActs = 16

func (st *State) init() {
	if st.Team == nil {
		st.Team = map[string]bool{}
	}
	if st.Chats == nil {
		st.Chats = map[string]*Conversation{}
	}
	if st.Throttles == nil {
		st.Throttles = map[ThrottleID][]time.Time{}
	}
	if st.Groups == nil {
		st.Groups = map[GroupID]*OpenGroup{}
	}
	if st.Schedules == nil {
		st.Schedules = map[string]time.Time{}
	}
}

// Effects are the changes one Step made to the State, for the service to
// persist in the same transaction as the step's jobs.
type Effects struct {
	// Team lists numbers added to the team directory.
	Team []string
	// Chats are the chats whose conversation changed, by id order.
	Chats []ChatChange
	// Throttles are the throttle windows that changed: the new acted
	// times of each.
	Throttles map[ThrottleID][]time.Time
	// Joined are the messages that joined a group, in order (a group's
	// first join opens it); Closed the groups that closed.
	Joined []GroupJoin
	Closed []GroupID
	// Timers are new delayed checks; Checked the ids of the due checks
	// (Batch.Checks) that ran.
	Timers  []Timer
	Checked []int64
	// Schedules are the schedules that moved: their new last run time.
	Schedules map[string]time.Time
}

// ChatChange is one chat's new conversation: Conversation is the whole
// record, Added and Removed the change to its Pending times (so that a
// store can keep them as rows and never rewrite them all).
type ChatChange struct {
	Conversation *Conversation
	Added        []time.Time
	Removed      []time.Time
}

// GroupJoin is one message joining a group.
type GroupJoin struct {
	Group   GroupID
	EventID int64
	Item    GroupItem
	// Opened: this join opened the group (EventID is its first message).
	Opened bool
}

// Timer is a delayed check of Rule for the event EventID, due at Due.
type Timer struct {
	Rule    string
	EventID int64
	Due     time.Time
}

// diffTimes returns what is in after and not in before (added), and the
// reverse (removed); both are sorted and may hold repeats.
func diffTimes(before, after []time.Time) (added, removed []time.Time) {
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || (i < len(before) && before[i].Before(after[j])):
			removed = append(removed, before[i])
			i++
		case i == len(before) || after[j].Before(before[i]):
			added = append(added, after[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}

// sortGroups puts groups in a stable order: by start, rule, key.
func sortGroups(gs []*OpenGroup) {
	slices.SortFunc(gs, func(a, b *OpenGroup) int {
		return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Rule, b.Rule), strings.Compare(a.Key, b.Key))
	})
}

// NextDue returns the earliest time after which Step has time-driven work
// with this state: a group closing or a schedule's next run; zero if none.
// Delayed checks are the caller's (see State).
func (rs *RuleSet) NextDue(st *State) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, g := range st.Groups {
		if r := rs.Rule(g.Rule); r != nil && r.Group != nil {
			consider(g.Start.Add(r.Group.Window))
		} else {
			consider(g.Start)
		}
	}
	for _, r := range rs.Rules {
		if r.Schedule == nil || !r.Enabled {
			continue
		}
		last, ok := st.Schedules[r.Name]
		if !ok {
			return time.Unix(0, 0) // a schedule to start: now
		}
		consider(r.Schedule.Next(last))
	}
	return next
}
