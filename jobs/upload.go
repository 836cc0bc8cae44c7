package jobs

import "context"

func (r *Runner) upload(ctx context.Context, j *Job) error {
	return &permanentError{"uploads are not supported yet"}
}
