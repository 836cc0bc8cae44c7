// Command redisclients compares the two maintained Go Redis clients on the
// one command a Kerberos request costs with cluster.redis: SET key 1 NX PX,
// from 1 and from 32 goroutines, against a redis-server at the address
// given. It is its own module so that the losing client is not a
// dependency of Gatehouse.
//
//	redis-server --port 16390 --save '' --appendonly no &
//	go run . 127.0.0.1:16390
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

func run(name string, c int, op func(key string) error) {
	var n, errs atomic.Int64
	stop := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for g := 0; g < c; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if op(fmt.Sprintf("%s:%d:%d", name, c, n.Add(1))) != nil {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%-9s c=%-3d %8.0f SET NX PX/s  errors=%d\n", name, c, float64(n.Load())/3, errs.Load())
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: redisclients HOST:PORT")
		os.Exit(2)
	}
	addr, ctx := os.Args[1], context.Background()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gc := goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: 64})
	for _, c := range []int{1, 32} {
		run("rueidis", c, func(k string) error {
			err := rc.Do(ctx, rc.B().Set().Key(k).Value("1").Nx().PxMilliseconds(300000).Build()).Error()
			if rueidis.IsRedisNil(err) {
				return nil
			}
			return err
		})
		run("go-redis", c, func(k string) error {
			return gc.SetNX(ctx, k, "1", 5*time.Minute).Err()
		})
	}
}
